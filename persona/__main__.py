from persona.cli import main

raise SystemExit(main())
