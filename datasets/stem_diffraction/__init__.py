"""tfds dataset folder for ``stem_diffraction`` (``tfds build datasets/stem_diffraction``)."""
