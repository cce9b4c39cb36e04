"""pix2pix (Isola, Zhu, Zhou and Efros 2017) on the common loop."""
