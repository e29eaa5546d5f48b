"""Machine-readable results of a run (`results/*_metrics.json`), written atomically."""
import json
import time
from pathlib import Path

from .state import atomic_write_text


def write_metrics(path: Path | str, metrics: dict) -> dict:
    """Write `metrics` as JSON, stamped with the date; return what was written."""
    record = {"written": time.strftime("%Y-%m-%d"), **metrics}
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return record
