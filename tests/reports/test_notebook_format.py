"""crqlab.reports.notebook_format: nbformat without the IRI grammar, nothing hidden afterwards."""
import subprocess
import sys
import textwrap

from crqlab.paths import NOTEBOOKS_DIR


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (the test process has long imported nbformat)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_nbformat_loads_without_the_grammar_and_still_validates_notebooks():
    out = _fresh(f"""
        import sys
        from crqlab.reports import notebook_format
        nbformat = notebook_format.load()
        print("grammar imported:", notebook_format.HIDDEN in sys.modules)
        nb = nbformat.read({str(sorted(NOTEBOOKS_DIR.glob('*.ipynb'))[0])!r}, as_version=4)
        nbformat.validate(nb)
        nb.cells[0]["cell_type"] = "no such type"
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            print("invalid refused")
    """)
    assert out.splitlines() == ["grammar imported: False", "invalid refused"]


def test_the_hiding_lasts_only_for_the_import():
    out = _fresh("""
        import importlib.util, sys
        from crqlab.reports import notebook_format
        notebook_format.load()
        print(notebook_format.HIDDEN in sys.modules)
        installed = importlib.util.find_spec(notebook_format.HIDDEN) is not None
        if installed:
            importlib.import_module(notebook_format.HIDDEN)
        print(not installed or sys.modules[notebook_format.HIDDEN] is not None)
    """)
    assert out.splitlines() == ["False", "True"]


def test_a_second_load_is_the_same_module():
    from crqlab.reports import notebook_format
    import nbformat

    assert notebook_format.load() is nbformat
