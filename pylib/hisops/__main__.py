from hisops.cli import main

raise SystemExit(main())
