"""`python -m embedrec ...` runs the command line: what torchrun starts in each process (`-m embedrec`)."""

from embedrec.cli.main import app

if __name__ == "__main__":
    app()
