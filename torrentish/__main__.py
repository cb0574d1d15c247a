from torrentish.cli import main

main()
