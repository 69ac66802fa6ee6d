from detector.cli import console

console()
