-- Undoes 0001_initial.up.sql (grants go with the tables).
DROP TABLE IF EXISTS entries;
DROP TABLE IF EXISTS sources;
