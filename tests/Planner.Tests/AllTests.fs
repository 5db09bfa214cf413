/// Every Expecto test of the planner, in one list.
module Pgmo.Planner.Tests.AllTests

open Expecto

let all =
    testList "planner" [
        CsvTests.tests
        BoundsTests.tests
        ValidateTests.tests
        OptimalTests.tests
        CertificateTests.tests
    ]
