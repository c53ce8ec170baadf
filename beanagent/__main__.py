from beanagent.cli import main

main()
