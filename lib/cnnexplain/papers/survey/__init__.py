"""Zhang, Cai, Chen & Wang 2019, the survey of CNN interpretation methods (notebooks 40-42)."""
