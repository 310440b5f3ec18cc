"""Cost of a package's ELM-derived outreach mode: derive + compile once, then patients/s.

python benchmarks/package_outreach.py
"""

import time
from pathlib import Path

from careloop.programs.measures import service
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.packages import read_and_compile

E = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecqm-qicore-2024"
NAMES = {"CMS131": "DiabetesEyeExamFHIR", "CMS125": "BreastCancerScreeningFHIR"}

patients = list(read_patients(sorted((E / "testcases").rglob("*-bundle.json"))))
start, end = service.parse_period("2025-01-01/2025-12-31")
print(f"{len(patients)} official bundles")
for cms, name in NAMES.items():
    t = time.perf_counter()
    (measure,) = read_and_compile([E / "measures" / name, E / "libraries"])
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    measure.outreach()
    derive_s = time.perf_counter() - t
    rates = []
    for outreach in (False, True):
        t = time.perf_counter()
        results = list(
            service.evaluate_population(
                patients, measures=[measure], start=start, end=end, outreach=outreach
            )
        )
        rates.append(
            (len(results) / (time.perf_counter() - t), sum(r["care_gap"] for r in results))
        )
    print(
        f"{cms}: compile {compile_s:.2f} s, derive+compile outreach {derive_s:.2f} s; "
        f"reporting {rates[0][0]:,.0f} p/s ({rates[0][1]} gaps), "
        f"outreach {rates[1][0]:,.0f} p/s ({rates[1][1]} gaps)"
    )
