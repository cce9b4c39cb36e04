"""Image captioning: CNN encoder + attention LSTM/GRU decoder, scored by BLEU (generators/caption/plugin.py)."""
