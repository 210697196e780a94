"""selfheal: keep a declared estate of DynamoDB tables and S3 buckets exactly as declared."""

__version__ = "0.1.0"
