"""Apply: carry out planned steps with thin boto3 calls, retries and bounded waits."""

from .executor import Deadline, Deferred, StepFailed, Waits, run_step

__all__ = ["Deadline", "Deferred", "StepFailed", "Waits", "run_step"]
