"""The ``kill-model`` flow: kill switch off first, then MLflow, ledger and notices (in progress)."""
