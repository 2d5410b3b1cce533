"""The distillation trainer: students learn from the frozen HaMeR teacher (Fast-HaMeR).

- :mod:`.data` / :mod:`.augment`: HaMeR's webdataset training shards -> augmented 256x256 samples.
- :mod:`.losses` / :mod:`.discriminator`: ground-truth, output-KD, feature-KD and adversarial terms.
- :mod:`.module` / :mod:`.trainer` / :mod:`.config`: Lightning module, Trainer set-up, YAML config.
- :mod:`.cache`: teacher cache (``fast-hamer distill-cache``); :mod:`.export`: ``export-student``.

Heavy dependencies (Lightning) are imported by the modules that need them, not here.
"""
