"""Build of the optional C extension; everything else is in pyproject.toml.

``ami_listener._speedups`` holds C versions of the ingest hot loops. It is optional: where
no C compiler is available the build goes on without it and the package uses its
pure-Python reference implementations (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ami_listener._speedups",
            sources=["ami_listener/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
