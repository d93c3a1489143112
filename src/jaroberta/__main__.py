from jaroberta.cli import main

raise SystemExit(main())
