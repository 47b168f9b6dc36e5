"""Privacy: PII detection, per-subject envelope encryption, and forget-me.

- ``checksums``: Luhn, IBAN mod-97 and national-id rules (shared with the redactor);
- ``pii``: where the personal data and secrets in a text are (spans with kinds);
- ``keys``: the master key and the per-(tenant, subject) data keys (``tether_subject_keys``);
- ``seal``: PII spans in text replaced by AES-GCM tokens, and opened again;
- ``forget``: destroy a subject's key and delete their rows, journaled without the data.

Import from the submodules: this package imports nothing, so that ``tether.redact`` can use
``checksums`` without a cycle.
"""
