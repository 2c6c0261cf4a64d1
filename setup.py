"""Build of the optional C extension; everything else is in pyproject.toml.

``ami_listener._speedups`` holds C versions of the ingest hot loops and
``ami_listener._sqlitelog`` writes event-log rows straight into SQLite. Both are optional:
where no C compiler (or no SQLite header) is available the build goes on without them and
the package uses its pure-Python code paths (same results, slower).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(
    ext_modules=[
        Extension(
            "centralita.ami_listener._speedups",
            sources=["centralita/ami_listener/_speedups.c"],
            depends=["centralita/ami_listener/_rowscan.h"],
            optional=True,
            extra_compile_args=_FLAGS,
        ),
        # Event-log rows straight into SQLite: needs SQLite's header (libsqlite3-dev).
        Extension(
            "centralita.ami_listener._sqlitelog",
            sources=["centralita/ami_listener/_sqlitelog.c"],
            depends=["centralita/ami_listener/_rowscan.h"],
            libraries=["sqlite3"],
            optional=True,
            extra_compile_args=_FLAGS,
        ),
    ]
)
