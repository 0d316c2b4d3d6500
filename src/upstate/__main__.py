from upstate.cli import main

raise SystemExit(main())
