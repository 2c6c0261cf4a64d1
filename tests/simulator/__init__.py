"""Tests of the AMI-speaking PBX simulator."""
