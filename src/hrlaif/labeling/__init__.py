"""The label stage's parts: aggregation into partial orders (``order``), category routing
(``routing``), the SQLite label store (``store``), exports (``export``) and the label-quality
report (``quality``). The stage itself is :mod:`hrlaif.label`."""
