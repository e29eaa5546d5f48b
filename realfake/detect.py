"""`python -m realfake.detect FILE...`: probability that each image was generated, from the right model per file.

A thin entry point; the detector lives in realfake.sd_detector.detect.
"""
from realfake.sd_detector.detect import main, score_files  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
