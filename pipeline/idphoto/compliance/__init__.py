"""ID-photo compliance report: measure the delivered photo against the document's rules.

Every check is a small pure function that turns one measurement into a ``CheckResult``
(measured value, the limit it was compared with, where that limit comes from, a status and,
when it is not a pass, advice a person can act on for a retake). The report is computed on
the photo the user receives (the caller re-detects faces and re-mattes it), never on
numbers from the crop step, so a cropping bug cannot certify its own output.

Modules: ``thresholds`` (limits and their sources), ``verdicts`` (grading and wording),
``measurements`` (regions and raw numbers), the checks (``framing_checks``,
``background_checks``, ``appearance_checks``, ``file_checks``), ``report``
(``ComplianceReport``), ``assessment`` (``assess``, the entry point) and ``overlay``.

Conventions: photo RGB uint8 (H, W, 3); matte float32 (H, W) in [0, 1] (1 = person);
coordinates in pixels, y down.
"""
