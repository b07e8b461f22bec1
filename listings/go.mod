module sdbe/listings

go 1.22
