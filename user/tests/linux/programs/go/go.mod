module metteagle.test/linuxgo

go 1.19
