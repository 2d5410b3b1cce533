"""A synthetic world in the real formats (``fast-hamer synth-data``): MANO, shards, evaluation sets, teacher.

- :mod:`.mano`: a random but valid MANO right hand, as ``.npz``, the official chumpy ``.pkl`` or its zip.
- :mod:`.render`: the synthetic hand posed, rendered and annotated as HaMeR annotates.
- :mod:`.datasets`: HaMeR training shards, the MoCap file, FreiHAND / HO3D-v2 evaluation layouts.
- :mod:`.hamer_checkpoint`: HaMeR's Lightning checkpoint layout, from HaMeR's architecture.
- :mod:`.models`: the registered ``synthetic_student`` / ``synthetic_teacher`` architectures.
- :mod:`.world`: all of it in one folder (:func:`write_synthetic_world`).

The tests build their data with these same functions (``test/fixtures`` only wraps them in fixtures).
Nothing here is the licensed MANO model or HaMeR's weights, and nothing here resolves as them.
"""
