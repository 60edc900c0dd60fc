"""The validity rules and enums that more than one component applies, in one place.

Every record type that crosses a component boundary has one module here: :mod:`.items`,
:mod:`.labels`, :mod:`.assignments`, :mod:`.annotator_events`, :mod:`.candidates` and
:mod:`.calibration`, built on the shared :mod:`.ids` and :mod:`.times` rules and the enums of
:mod:`.enums` (read from ``schemas/``, never retyped). The SDKs apply a rule before sending, the
agents apply the same rule after reading, so a record a producer could send past the SDK (a raw
client, another language) meets the same verdict, with the same reason code, wherever it lands.

A rule that runs on the scorer's hot path has a vectorised form (numpy over a batch) next to its
per-record form; tests feed both the same records and require the same verdicts.
"""
