"""tfadv: a TensorFlow/Keras reproduction of two papers on adversarial examples.

Paper A, "Through Neural Nets' Eyes" (id ``eyes``), and paper B, "Neural
Networks Playing Dough" (id ``dough``). The protocol the package follows is in
``paper/README.md``; ``python -m tfadv.reproduce`` regenerates everything.

Importing the package is cheap: TensorFlow is loaded only by the modules that
need it (``models``, ``training``, ``modelbank``, ``engine.tensorflow`` and
the stages of each paper).
"""

__version__ = "0.1.0"
