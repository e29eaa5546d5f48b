"""Machine-readable results of a run (`results/*_metrics.json`)."""
import json
import time
from pathlib import Path


def write_metrics(path: Path | str, metrics: dict) -> dict:
    """Write `metrics` as JSON, stamped with the time; return what was written."""
    record = {"written": time.strftime("%Y-%m-%d %H:%M:%S"), **metrics}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str))
    return record
