"""selfheal: keep a declared estate of DynamoDB tables and S3 buckets exactly as declared."""

from selfheal import classcode as _classcode

__version__ = "0.1.0"

_classcode.install()  # before any of the package's classes is defined: their methods compiled at build time, if built
