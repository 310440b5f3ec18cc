"""Patients/s of the hand-written definitions vs the published ELM, and their agreement.

python benchmarks/measure_engines.py deck 2025-01-01/2025-12-31
python benchmarks/measure_engines.py synthea 2020-01-01/2020-12-31
"""

import sys
import time
from pathlib import Path

from careloop.programs.measures import service
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.packages import read_and_compile

E = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecqm-qicore-2024"
names = {
    "CMS125": "BreastCancerScreeningFHIR",
    "CMS130": "ColonCancerScreeningFHIR",
    "CMS124": "CervicalCancerScreeningFHIR",
    "CMS122": "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "CMS165": "ControllingHighBloodPressureFHIR",
    "CMS138": "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR",
    "CMS2": "PCSDepressionScreenAndFollowUpFHIR",
}
src = sys.argv[1] if len(sys.argv) > 1 else "deck"
period = sys.argv[2] if len(sys.argv) > 2 else "2025-01-01/2025-12-31"
if src == "deck":
    paths = sorted((E / "testcases").rglob("*-bundle.json"))
else:
    paths = [E.parent / "synthea-r4" / "patients"]
patients = list(read_patients(paths))
start, end = service.parse_period(period)
for cms, name in names.items():
    builtin = service.find_measure(cms)
    elm = read_and_compile([E / "measures" / name, E / "libraries"])[0]
    t = time.time()
    a = list(service.evaluate_population(patients, measures=[builtin], start=start, end=end))
    ta = time.time() - t
    t = time.time()
    b = list(service.evaluate_population(patients, measures=[elm], start=start, end=end))
    tb = time.time() - t
    dis = [
        (x["patient"], x["groups"], y["groups"])
        for x, y in zip(a, b, strict=True)
        if x["groups"] != y["groups"]
    ]
    cells = sum(len(g) for x in a for g in x["groups"])
    print(
        f"{cms}: {len(a)} patients, {cells} population cells, "
        f"disagree patients={len(dis)}  "
        f"builtin {len(a) / ta:.0f} p/s  elm {len(b) / tb:.0f} p/s"
    )
    for d in dis[:4]:
        print("   ", d)
