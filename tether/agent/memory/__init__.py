"""Working memory: a windowed conversation with a token budget, older turns summarized with
decaying resolution (``window.py`` decides, ``step.py`` journals, ``summarize.py`` and
``extractive.py`` summarize, ``tokens.py`` counts, ``session.py`` carries a session's turns
from one run to the next). The long-term tiers live in ``tether/memory/``."""
