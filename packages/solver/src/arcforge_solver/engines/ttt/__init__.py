"""The test-time-training engine (`--engine ttt`, `--engine ttt+search`): a language model reads a task
as text, is fine-tuned on the task's own train pairs under augmentations, writes candidate output grids
greedily and with a depth-first sampler, and keeps the two that score best across augmentations.

- `format`: grids as token ids (one per cell, a row separator), exact token counts, fitting the window;
- `augment`: dihedral transforms, colour permutations, train-pair order, each with its inverse;
- `data`: leave-one-out training examples (train pairs only);
- `model`: the trainable model (LoRA or full) and its reset between tasks;
- `likelihood`, `train`: answer-only loss and the training loop;
- `decode`: greedy and DFS sampling over a KV cache;
- `score`: candidate pools and the product-of-experts ranking;
- `budget`: measured pace, plans that fit a task's seconds, forecasts;
- `engine`: the two engines.

Nothing here imports torch until a model is loaded.
"""
