"""The evaluation harness (DESIGN §2.10): datasets, checks, the judge, the runner, error
analysis, reports and per-run automatic checks.

Modules: ``dataset`` (cases), ``observe`` (a run as checks see it), ``checks`` (the ``Check``
protocol and code checks), ``judge`` (LLM-as-judge), ``harness`` (runtime for eval runs),
``runner`` (cases × attempts, pass@k, pass^k), ``components`` (tool, retrieval and judge
evals; ``run_dataset``), ``analysis`` (failures by component), ``gate``, ``report`` and
``html`` (terminal, JSON, HTML), ``replay`` (drift against a recorded run), ``online``
(scoring stored runs), ``capture`` (a stored run as a new case), ``autochecks`` (every run's
automatic checks). Nothing is imported here: the run's finish step imports ``autochecks``.
"""
