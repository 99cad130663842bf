"""The papers tfadv reproduces, one package each; ``tfadv.registry`` lists them.

Each package defines its ``Paper`` in ``<paper>/paper.py``. Package files
import nothing, so each paper's numpy-only modules load without TensorFlow.
"""
