CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
DO $body$ BEGIN PERFORM 'a;b', E'it\'s;'; /* c; /* d */ */ END $body$; -- tail; comment
GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";
