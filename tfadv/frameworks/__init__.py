"""The framework comparison (PROTOCOL.md section 9): paper A's searches on TensorFlow, JAX and PyTorch.

``python -m tfadv.frameworks`` takes the saved HDF5 models of a run's output
folder and attacks them with every installed backend's engine, one child
process per backend (Keras picks its backend once per process):

- ``plan``: which searches (paper A's, ``--rounds`` rounds, no readings or
  ``eyes_tab4`` variants) and where each backend's results go
  (``<output_dir>/frameworks/<backend>/``, a folder stamped with its backend).
- ``worker``: the child (``python -m tfadv.frameworks.worker``): copies the
  models in, runs and times the searches (cached like the pipeline's), and
  writes the summary, the claims and a record of what it ran.
- ``agreement``: how each backend's results compare with the reference
  engine's, example by example and in statistics (numpy only).
- ``item``: the registered item ``frameworks`` (table and figure) and
  ``frameworks.json``, drawn from what the workers wrote.
"""

ITEM_ID = "frameworks"
WHAT = ("The same saved models attacked by the TensorFlow, JAX and PyTorch engines: speed, agreement with "
        "the reference engine (TensorFlow) and every claim's verdict per backend.")
REFERENCE = "tensorflow"  # the engine the others are compared with (PROTOCOL.md section 9)
