"""Build script for the compiled part of minesweep: the fast path of ``minesweep scan``.

Project metadata lives in pyproject.toml; this file only declares the C extension
``detector._fastpath`` (source detector/_fastpath.c), built with ``pip install -e .`` or, in
place for a checkout, ``python setup.py build_ext --inplace``.
"""

from setuptools import Extension, setup

# An editable install puts the checkout on sys.path (pyproject.toml: package-dir), where this
# file is importable as ``setup``: it builds only when run (setuptools runs it as __main__).
if __name__ == "__main__":
    setup(
        ext_modules=[
            Extension(
                "detector._fastpath",
                sources=["detector/_fastpath.c"],
                # -ffp-contract=off: timestamps must round exactly as Python's float arithmetic does
                extra_compile_args=["-O2", "-std=gnu11", "-ffp-contract=off", "-Wall", "-Wextra",
                                    "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
            )
        ],
    )
