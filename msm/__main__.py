from msm.cli import main

main()
