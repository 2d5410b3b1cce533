"""Evaluation of hand-mesh models: metrics (:mod:`.metrics`), benchmark datasets in their published
layouts (:mod:`.datasets`), the protocol that runs a model over them (:mod:`.protocol`), speed / size
measurements (:mod:`.benchmark`) and the results table + accuracy-vs-speed plot (:mod:`.report`)."""
