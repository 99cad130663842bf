"""The papers tfadv reproduces, one package each: their ids here, their ``Paper`` objects in ``tfadv.registry``.

Each package defines its ``Paper`` in ``<paper>/paper.py``. Package files
import nothing, so each paper's numpy-only modules load without TensorFlow, and
the command line's flags (``--paper``) are defined without loading Keras.
"""

IDS = ("eyes", "dough")  # the papers ``python -m tfadv.reproduce`` runs, in order; ``tfadv.registry`` loads them
