"""Release management: the supply-chain record (SBOM) of an installed tether."""
