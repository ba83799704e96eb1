"""Product fidelity: does a generated image show the product of the photo, unchanged?

registration.py  find the cut-out product in the generated image; warp it back into the photo's frame
colour.py        relight-tolerant colour difference (CIEDE2000) and colour words
regions.py       differing regions told apart: recolour, missing part, something added
shape.py         stretch, distortion and warp
text.py          label words read with tesseract, compared
verdict.py       findings, severity, verdict
check.py         all of it: measure() then judge()
records.py       stored checks (the FidelityCheck table's only writer)
actions.py       automatic re-tries, "Regenerate flagged", the correction added to a prompt

Only the verdict types are imported here: pages and the CLI read stored checks without loading OpenCV.
"""

from lib.fidelity.verdict import Check, Finding, Report, Severity, Verdict

__all__ = ["Check", "Finding", "Report", "Severity", "Verdict"]
