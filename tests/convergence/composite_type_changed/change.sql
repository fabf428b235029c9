ALTER TYPE grade_range ADD ATTRIBUTE label text;
