"""Minimum necessary: what a message may reveal, on which channel, to whom.

An SMS can be read on a lock screen, a voicemail played by anyone at home, an e-mail subject
shown in a shared inbox. So, unless the patient consented to detailed messages, a message
declared ``clinical`` never goes out on those surfaces: the SMS and voice forms are replaced
whole by the generic message ("You have a new message from your care team"), and an e-mail
keeps its body but takes the generic subject. The portal is behind a login: it always shows
the detailed form.

The lint also reads the exposed parts of every ``general`` message for diagnosis and test
words, so a message cannot dodge the rule by being declared general.
"""

from __future__ import annotations

import re
from functools import cache

from careloop.content.vocab import Channel, Sensitivity

# Parts of a channel form that others may see without logging in.
EXPOSED_PARTS: dict[Channel, frozenset[str]] = {
    Channel.SMS: frozenset({"body"}),
    Channel.VOICE: frozenset({"body"}),
    Channel.EMAIL: frozenset({"subject"}),
    Channel.PORTAL: frozenset(),
}

# Words that name a condition, a test or a treatment. Not exhaustive: a tripwire for
# mis-declared messages; the declaration itself is the rule.
SENSITIVE_TERMS: dict[str, tuple[str, ...]] = {
    "en": (
        "mammogram",
        "mammography",
        "breast",
        "cancer",
        "oncology",
        "chemo",
        "chemotherapy",
        "tumor",
        "colonoscopy",
        "colorectal",
        "colon",
        "stool",
        "fit test",
        "pap",
        "cervical",
        "hpv",
        "diabetes",
        "diabetic",
        "a1c",
        "hba1c",
        "glucose",
        "blood sugar",
        "insulin",
        "blood pressure",
        "hypertension",
        "depression",
        "phq",
        "hiv",
        "pregnancy",
        "symptom",
        "symptoms",
        "side effects",
    ),
    "es": (
        "mamografía",
        "mama",
        "seno",
        "senos",
        "cáncer",
        "oncología",
        "quimio",
        "quimioterapia",
        "tumor",
        "colonoscopia",
        "colorrectal",
        "colon",
        "heces",
        "papanicolaou",
        "cuello uterino",
        "cervical",
        "vph",
        "diabetes",
        "diabético",
        "diabética",
        "a1c",
        "hba1c",
        "glucosa",
        "azúcar en la sangre",
        "insulina",
        "presión arterial",
        "hipertensión",
        "depresión",
        "vih",
        "embarazo",
        "síntoma",
        "síntomas",
        "efectos secundarios",
    ),
    "pt": (
        "mamografia",
        "mama",
        "seio",
        "seios",
        "câncer",
        "oncologia",
        "quimio",
        "quimioterapia",
        "tumor",
        "colonoscopia",
        "colorretal",
        "intestino",
        "fezes",
        "papanicolau",
        "preventivo",
        "colo do útero",
        "hpv",
        "diabetes",
        "diabético",
        "diabética",
        "a1c",
        "hemoglobina glicada",
        "glicose",
        "glicemia",
        "açúcar no sangue",
        "insulina",
        "pressão arterial",
        "hipertensão",
        "depressão",
        "hiv",
        "gravidez",
        "sintoma",
        "sintomas",
        "efeitos colaterais",
    ),
    # Chinese is written without spaces: its terms are matched anywhere in the text.
    "zh": (
        "乳房",
        "乳腺",
        "钼靶",
        "癌",
        "肿瘤",
        "化疗",
        "结肠镜",
        "肠镜",
        "结直肠",
        "大便",
        "粪便",
        "宫颈",
        "巴氏",
        "HPV",
        "糖尿病",
        "糖化血红蛋白",
        "A1c",
        "血糖",
        "胰岛素",
        "血压",
        "高血压",
        "抑郁",
        "艾滋",
        "HIV",
        "怀孕",
        "症状",
        "副作用",
    ),
}
# Languages written without spaces between words: no word boundaries around their terms.
_UNSPACED_LANGUAGES = frozenset({"zh"})


def must_stay_generic(
    *, sensitivity: Sensitivity, channel: Channel, detailed_consent: bool
) -> frozenset[str]:
    """The parts of this channel form that must come from the generic message."""
    if sensitivity is Sensitivity.GENERAL or detailed_consent:
        return frozenset()
    return EXPOSED_PARTS[channel]


@cache
def _pattern(language: str) -> re.Pattern[str] | None:
    terms = SENSITIVE_TERMS.get(language)
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    if language in _UNSPACED_LANGUAGES:
        return re.compile(f"({alternatives})", re.IGNORECASE)
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE)


def sensitive_terms_in(text: str, *, language: str) -> list[str]:
    """Diagnosis or test words found in ``text`` (empty when none, or no list for language)."""
    pattern = _pattern(language)
    if pattern is None:
        return []
    return sorted({m.group(1).lower() for m in pattern.finditer(text)})
