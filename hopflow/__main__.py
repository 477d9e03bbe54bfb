from hopflow.cli import main

main()
