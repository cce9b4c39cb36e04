"""DCGAN (Radford, Metz and Chintala 2015) on the common loop."""
